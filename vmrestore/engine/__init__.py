"""vmrestore.engine"""
