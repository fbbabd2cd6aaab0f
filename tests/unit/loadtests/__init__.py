"""Unit tests of loadtests/: the bench's arithmetic, the floor, the fault run's verdict."""
