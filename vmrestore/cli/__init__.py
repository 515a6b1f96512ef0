"""vmrestore.cli"""
