"""spanguard.pipeline"""
