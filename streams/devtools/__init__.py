"""Development tools: the embedded broker, the demo and its traffic. Not in the runtime image."""
