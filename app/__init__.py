"""XY-Tokenizer Studio: the Qt desktop front end (PySide6 + pyqtgraph)."""
