"""The core: the one Faust app, its settings, topics, Faust patches and partition helpers."""
