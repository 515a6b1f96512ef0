"""vmrestore.disks"""
