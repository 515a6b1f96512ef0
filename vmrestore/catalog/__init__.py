"""vmrestore.catalog"""
