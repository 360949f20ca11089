from cmops.cli import main

main()
