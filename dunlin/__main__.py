from dunlin.cli import main

main()
