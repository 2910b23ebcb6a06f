"""sentinel_hub"""
