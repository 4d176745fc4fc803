from trainperf.cli import main

main()
