"""vmrestore.app"""
