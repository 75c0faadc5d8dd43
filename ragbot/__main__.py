from ragbot.cli import main

main()
