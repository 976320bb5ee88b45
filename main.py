"""Start XY-Tokenizer Studio from a checkout: ``python main.py``."""
from app.main import main

raise SystemExit(main())
