"""The paper preset against the authors' code (XieZixiUSTC/X2-Softmax), transcribed by hand."""

from __future__ import annotations

from x2softmax import config as xcfg

# verification.py evaluates these .bin sets (in this order); evaluate_IJB.py the two IJB suites.
AUTHORS_VERIFICATION_SETS = ["lfw", "calfw", "cplfw", "agedb_30", "cfp_fp", "vgg2_fp"]
AUTHORS_IJB_SUITES = ["IJBB", "IJBC"]


def test_the_paper_preset_evaluates_every_set_the_authors_evaluate():
    paper = xcfg.load_config("paper")
    assert set(paper["evaluate"]["benchmarks"]) == set(AUTHORS_VERIFICATION_SETS)
    assert set(paper["evaluate"]["ijb"]) == set(AUTHORS_IJB_SUITES)
    assert set(AUTHORS_VERIFICATION_SETS + AUTHORS_IJB_SUITES) <= set(paper["data"]["required"])


def test_the_paper_preset_scales_the_loss_as_the_authors_do():
    train = xcfg.load_config("paper")["train"]
    assert train["amp"] == "fp16" and train["grad_clip"] == 5.0
    assert train["scaler_growth_interval"] == 100  # train.py: GradScaler(growth_interval=100)
    assert xcfg.load_config()["train"]["scaler_growth_interval"] == 2000  # torch's default elsewhere
