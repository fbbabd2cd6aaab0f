"""Collector payload formats: recognise a payload, split it into events, write one event back.

Each format module describes its collector's wire format, where its events keep the
jurisdiction signals and personal fields, and how they carry consent; `registry` lists
them, `detect.Decoder` picks the format for a payload. This package imports nothing, so
the configuration can read the registry without importing the decoder.
"""
