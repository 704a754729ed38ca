"""Learning-rate schedules: the same lr (and momentum) sequences as PyTorch's."""
import numpy as np
import pytest

import tinycnn
from tinycnn import optim
from tinycnn.nn import Parameter
from tinycnn.optim import lr_scheduler as S

STEPS = 60


def _lrs(opt, sched, steps=STEPS):
    """[(lr of each group, momentum or beta1 of each group)] after construction and each step."""
    def momenta():
        return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]

    seq = [(list(sched.get_last_lr()), momenta())]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append((list(sched.get_last_lr()), momenta()))
    return seq


def _groups(make_param):
    return [{"params": [make_param()]}, {"params": [make_param()], "lr": 0.02}]


CASES = {
    "step": lambda M, o: M.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda M, o: M.MultiStepLR(o, milestones=[30, 10, 10, 45], gamma=0.2),
    "cosine": lambda M, o: M.CosineAnnealingLR(o, T_max=25, eta_min=1e-4),
    "linear": lambda M, o: M.LinearLR(o, start_factor=0.1, total_iters=8),
    "linear_decay": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=40),
    "onecycle": lambda M, o: M.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=STEPS),
    "onecycle_linear_3phase": lambda M, o: M.OneCycleLR(
        o, max_lr=0.3, epochs=6, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear", three_phase=True
    ),
    "onecycle_no_momentum": lambda M, o: M.OneCycleLR(o, max_lr=0.3, total_steps=STEPS, cycle_momentum=False),
    "warmup_cosine": lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.01, total_iters=5), M.CosineAnnealingLR(o, T_max=STEPS - 5)], milestones=[5]
    ),
    "three_stage": lambda M, o: M.SequentialLR(
        o,
        [M.LinearLR(o, start_factor=0.5, total_iters=4), M.StepLR(o, 5, 0.5), M.CosineAnnealingLR(o, 10)],
        milestones=[4, 20],
    ),
}
OPTIMIZERS = {
    "sgd": lambda O, groups: O.SGD(groups, lr=0.1, momentum=0.9),
    "adam": lambda O, groups: O.Adam(groups, lr=0.1),
}


@pytest.mark.torch
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_sequence_matches_torch(case, opt_name):
    torch = pytest.importorskip("torch")
    opt = OPTIMIZERS[opt_name](optim, _groups(lambda: Parameter(np.zeros(2))))
    ours = _lrs(opt, CASES[case](S, opt))
    t_opt = OPTIMIZERS[opt_name](torch.optim, _groups(lambda: torch.zeros(2, requires_grad=True)))
    ref = _lrs(t_opt, CASES[case](torch.optim.lr_scheduler, t_opt))
    for step, ((lr, mom), (t_lr, t_mom)) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(lr, t_lr, rtol=1e-9, atol=1e-15, err_msg=f"lr at step {step}")
        np.testing.assert_allclose(mom, t_mom, rtol=1e-9, atol=1e-15, err_msg=f"momentum at step {step}")
    assert len({tuple(lr) for lr, _ in ours}) > 2  # the schedule does change the lr


def test_cosine_formula_by_hand():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=1.0)
    sched = S.CosineAnnealingLR(opt, T_max=4)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(4):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2, 0.0],
                               atol=1e-15)


def test_onecycle_refuses_stepping_past_total_steps():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps is 3"):
        sched.step()


def test_onecycle_bad_arguments():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="total_steps, or both epochs and steps_per_epoch"):
        S.OneCycleLR(opt, max_lr=1.0, epochs=3)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp")


def test_sequential_needs_one_milestone_less_than_schedulers():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="expected 1 milestones for 2 schedulers, got 2"):
        S.SequentialLR(opt, [S.LinearLR(opt), S.StepLR(opt, 3)], milestones=[2, 4])


@pytest.mark.parametrize("case", ["onecycle", "warmup_cosine", "multistep"])
def test_state_dict_resume_through_save(tmp_path, case):
    """Save optimizer + scheduler mid-run, load into fresh objects: the rest of the schedule is identical."""
    def fresh():
        opt = optim.SGD(_groups(lambda: Parameter(np.zeros(2))), lr=0.1, momentum=0.9)
        return opt, CASES[case](S, opt)

    opt, sched = fresh()
    for _ in range(20):
        opt.step()
        sched.step()
    tinycnn.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ckpt.npz")
    rest = _lrs(opt, sched, steps=30)

    ckpt = tinycnn.load(tmp_path / "ckpt.npz")
    opt2, sched2 = fresh()
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    assert _lrs(opt2, sched2, steps=30) == rest
