"""zonal"""
