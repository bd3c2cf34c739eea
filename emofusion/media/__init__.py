"""emofusion.media"""
