"""The lecture views: what lectures 2–4 draw, computed for any model learnsys can build.

    search.py     exhaustive search of the loss over a grid (lecture 2)
    grid.py       the loss at many parameter points at once (shared by search and landscape)
    landscape.py  loss surfaces with the optimiser's path (lectures 2–3; Li et al. planes)
    graph.py      the computational graph with every node's value and gradient (lecture 4)
    gradcheck.py  autograd vs finite differences vs the closed form
    figures.py    PNG pictures of the stored artifacts
    trained.py    a trained run opened for these views
    cli.py        their verbs: search, landscape, graph, gradcheck

A layer of its own above the building blocks: it assembles models and data with
`learnsys.assembly`, reads weights through `learnsys.inference`, and never imports the
training loop (`learnsys/train/`). The training callbacks that draw landscapes live in
`learnsys/sinks/landscape.py`.
"""
