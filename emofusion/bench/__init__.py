"""emofusion.bench"""
