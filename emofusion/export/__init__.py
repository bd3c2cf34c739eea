"""emofusion.export"""
