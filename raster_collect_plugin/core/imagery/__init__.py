"""imagery"""
