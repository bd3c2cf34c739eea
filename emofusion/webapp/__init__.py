"""emofusion.webapp"""
