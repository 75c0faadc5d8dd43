from ragbot.cli import app

app()
