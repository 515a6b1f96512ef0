"""vmrestore.ui"""
