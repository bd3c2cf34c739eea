"""emofusion.nets"""
