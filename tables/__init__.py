"""State derived from events, held in changelog-backed Faust tables."""
