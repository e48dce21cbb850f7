"""spanguard.sidecar"""
