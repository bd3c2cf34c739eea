"""emofusion.train"""
