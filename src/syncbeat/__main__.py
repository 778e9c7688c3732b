from syncbeat.cli import main

main()
