"""Party-member boards (党员亮相牌): who is on duty in a grid, and residents' messages to its branch."""
