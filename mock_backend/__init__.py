"""An offline twin of the NemoVideo cloud backend."""
