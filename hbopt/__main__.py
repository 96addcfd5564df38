from hbopt.cli import main

main()
