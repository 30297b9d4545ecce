"""Data: the canonical dataset (record.py, dataset.py), its file formats (formats/),
images (images.py, image_stats.py), letterboxing for the model (letterbox.py),
drawing boxes (draw.py), generated data (synth.py) and statistics (stats.py)."""
