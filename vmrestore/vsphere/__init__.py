"""vmrestore.vsphere"""
