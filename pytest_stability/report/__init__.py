"""What a stability run leaves behind: the terminal summary's rows, the results JSON and its store, the HTML report.

Standard library only at import time (the HTML report loads torch, PIL and matplotlib inside the functions that
draw), so the plugin can import these modules without loading torch.
"""
