"""The Faust app, its settings and topics, and the toolwise command."""
