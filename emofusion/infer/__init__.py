"""emofusion.infer"""
