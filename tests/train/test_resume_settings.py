"""Settings a user changes on purpose take effect on resume: AdamW's betas, eps and weight
decay come back from a checkpoint's optimizer state, and the config must win over them."""

import torch
from cpt.train.config import OptimizerConfig
from cpt.train.loop import apply_optimizer_settings


def test_config_hyperparameters_override_the_loaded_optimizer_state():
    model = torch.nn.Linear(4, 4)
    saved = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    model(torch.ones(2, 4)).sum().backward()
    saved.step()
    resumed = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.0)
    resumed.load_state_dict(saved.state_dict())
    assert resumed.param_groups[0]["betas"] == (0.9, 0.95)  # what a resume did before: the checkpoint's
    apply_optimizer_settings(resumed, OptimizerConfig(betas=[0.8, 0.9], eps=1e-6, weight_decay=0.0))
    group = resumed.param_groups[0]
    assert (group["betas"], group["eps"], group["weight_decay"]) == ((0.8, 0.9), 1e-6, 0.0)
    assert torch.equal(resumed.state[model.weight]["exp_avg"], saved.state[model.weight]["exp_avg"])  # moments kept
