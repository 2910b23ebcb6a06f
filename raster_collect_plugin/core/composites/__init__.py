"""composites"""
