"""spanguard.exporters"""
