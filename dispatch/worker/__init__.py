"""Workers: when they start (scheduler, queue), how (control, launch), and how a host follows them (waiting, logview)."""
