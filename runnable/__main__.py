from runnable.cli import main

main()
