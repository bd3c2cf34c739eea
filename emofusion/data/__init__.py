"""emofusion.data"""
