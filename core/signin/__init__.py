"""Sign-in protection: throttling failed attempts per client address and per login, off-loop password checks."""
