"""Files: audio in and out, token files, atomic writes, user folders, safe checkpoint reading."""
