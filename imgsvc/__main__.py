from imgsvc.cli import main

main()
