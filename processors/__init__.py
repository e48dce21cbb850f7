"""spanguard.processors"""
