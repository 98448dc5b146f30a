from dispatch.cli import run

run()
